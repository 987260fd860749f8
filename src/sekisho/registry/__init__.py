"""One municipal register: residents, households, history, access records, bulk import, hand-over."""
