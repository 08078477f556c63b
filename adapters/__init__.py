"""The outside world Switchover acts on: document storage, the modern store, routers."""
