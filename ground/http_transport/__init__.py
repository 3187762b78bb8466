"""The one guarded HTTP transport for requests sent on a user's behalf (DESIGN §7, invariant 6).

Which addresses may be reached is ground.address_policy; this package is how a request gets
there while obeying it, at the moment of the connect (resolve once, check the answer,
connect to the checked address, never follow a redirect). It has two front-ends because two
kinds of callers speak different client libraries:

- `curl`: libcurl (pycurl) through curl's multi interface, for webhooks and feeds, the
  engine's hot path (`curl.fetch`, `curl.calls()`, `curl.get`, `curl.check_url`).
- `sdk`: a `requests` session (Mastodon.py, tweepy) and an `httpx` transport (atproto) for
  the networks' SDKs, which never get an HTTP client of their own.
"""
