"""The fee worker: net assets in, fee accruals out, exactly once, adjusted for late knowledge."""
