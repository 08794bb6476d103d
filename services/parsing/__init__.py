"""Reading filed amendment documents (EDGAR text) into structured amendments. Pure: no I/O."""
