"""JT/T 808 (2013 and 2019) bus terminals: `codec` is the pure wire format, `server` the TCP bridge."""
