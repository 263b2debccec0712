"""Bridges: processes that speak a device protocol on one side and contract §2 MQTT on the other.

`jt808` (bus terminals, JT/T 808-2013/2019 over TCP), `gb28181` (cameras and NVRs, SIP over UDP and
TCP) and `rtsp` (an OPTIONS probe of standalone IP cameras). Each reads the service's config and
registry, publishes only for registry devices, and serves its own `/metrics`.
"""
