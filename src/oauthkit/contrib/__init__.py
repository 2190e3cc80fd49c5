"""(classic) ``oauthkit.contrib``: the storage adapters and framework helpers of
oauth2client's ``contrib`` package, over oauthkit's one implementation."""
