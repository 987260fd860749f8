"""Card login without a universal number: a pseudonym per relying party plus an unlinkable validity proof
(docs/login.md)."""
