"""Load generation for memdiag: Locust scenarios that act like the incident's frontends.

`loadtests/scenarios/` holds the locustfiles and is the only place that imports locust
(it gevent-patches the process). Everything else here is plain Python that the
scenarios and the experiment runner share: the open-model pacer (`pacing`), the
response checks (`validate`), the HDR latency recorder (`recorder`), the typed result
(`results`) and the subprocess entry point (`runner`).
"""
