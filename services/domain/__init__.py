"""The pure domain: fee math, agreements and schedule timelines. No I/O lives here."""
