"""GB/T 28181 cameras and NVRs: `sip` (a small strict SIP codec), `manscdp` (the XML bodies), `server`.

No maintained SIP parser on PyPI fits an asyncio platform side (sippy is a threaded B2BUA with its
own event loop; the rest are bindings or stubs), so the SIP code here is small, strict and fuzzed.
"""
