"""How parties reach each other: protocols' implementations in-process (demo, tests) and over HTTP."""
