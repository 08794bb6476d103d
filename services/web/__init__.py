"""The auditor's read-only web site (`feeschedule web`): server-rendered pages and the JSON
endpoints behind them, over a fold of the log and the ledgers, read with read-only commands."""
