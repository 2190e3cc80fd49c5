// Drives Debian's Chromium (/usr/bin/chromium, never a downloaded browser) through
// oidc-provider's devInteractions login and consent pages to the app's loopback redirect.
//
//   node browser.mjs URL
//
// Environment: OAUTHKIT_E2E_REPORT_PORT, a TCP port on 127.0.0.1 where the test listens:
// the result ({ok, title, text, redirectOrigin, blocked, error}) is sent there as one JSON
// line when the run ends. OAUTHKIT_E2E_LOGIN (default alice). Every request that is not to
// 127.0.0.1/localhost is blocked (the login pages @import web fonts from the internet).
import { connect } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const url = process.argv[2];
const reportPort = Number(process.env.OAUTHKIT_E2E_REPORT_PORT);
const login = process.env.OAUTHKIT_E2E_LOGIN || 'alice';
const HARD_TIMEOUT_MS = 120_000;
const STEP_TIMEOUT_MS = 60_000; // a loaded CI machine can take long to start Chromium

function report(result) {
  return new Promise((resolve) => {
    if (!reportPort) return resolve();
    const socket = connect(reportPort, '127.0.0.1', () => {
      socket.end(`${JSON.stringify(result)}\n`, resolve);
    });
    socket.on('error', resolve);
  });
}

const killer = setTimeout(async () => {
  await report({ ok: false, error: 'browser driver timed out' });
  process.exit(3);
}, HARD_TIMEOUT_MS);

const isLoopback = (u) => {
  try {
    const { protocol, hostname } = new URL(u);
    if (protocol === 'data:' || protocol === 'about:') return true;
    return ['127.0.0.1', 'localhost', '[::1]'].includes(hostname);
  } catch {
    return false;
  }
};

const userDataDir = mkdtempSync(join(tmpdir(), 'oauthkit-chromium-'));
let browser;
const result = { ok: false, blocked: [] };
try {
  browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    timeout: STEP_TIMEOUT_MS,
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--no-first-run',
      '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1, EXCLUDE localhost',
    ],
  });
  await browser.route('**/*', (route) => {
    const requestUrl = route.request().url();
    if (isLoopback(requestUrl)) return route.continue();
    result.blocked.push(new URL(requestUrl).origin);
    return route.abort();
  });
  browser.setDefaultTimeout(STEP_TIMEOUT_MS);
  browser.setDefaultNavigationTimeout(STEP_TIMEOUT_MS);
  const page = browser.pages()[0] ?? (await browser.newPage());
  const issuerOrigin = new URL(url).origin;
  await page.goto(url);
  for (let step = 0; step < 10; step += 1) {
    await page.waitForLoadState('domcontentloaded');
    const here = new URL(page.url());
    if (here.origin !== issuerOrigin) break; // redirected to the app
    if (await page.locator('input[name="login"]').count()) {
      await page.fill('input[name="login"]', login);
      await page.fill('input[name="password"]', 'pw');
      await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
    } else if (await page.locator('input[name="prompt"][value="consent"]').count()) {
      await Promise.all([page.waitForNavigation(), page.click('button[type="submit"]')]);
    } else {
      throw new Error(`unexpected page at ${here.pathname}: ${(await page.title())}`);
    }
  }
  await page.waitForLoadState('domcontentloaded');
  result.redirectOrigin = new URL(page.url()).origin;
  result.title = await page.title();
  result.text = (await page.textContent('body'))?.trim() ?? '';
  result.ok = result.title === 'Sign-in complete';
} catch (error) {
  result.error = String(error?.stack ?? error);
} finally {
  if (browser) await browser.close();
  rmSync(userDataDir, { recursive: true, force: true });
}
result.blocked = [...new Set(result.blocked)];
await report(result);
clearTimeout(killer);
process.exit(result.ok ? 0 : 1);
