"""The fee-schedule service: amendments in, exact fee accruals out, every fee auditable."""
