raise RuntimeError("no GPU here\nsecond line")
