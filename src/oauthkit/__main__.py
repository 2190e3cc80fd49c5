"""``python -m oauthkit``: the ``oauthkit`` command."""

from oauthkit.cli import main

raise SystemExit(main())
