"""What admins do with the rules: see how each rule performs (report), label items so the
organisation grows its own evaluation set (labels), and try a change on the archive before
applying it (backtest)."""
