"""Rating: rate decks, tariff arithmetic and exact CDR pricing."""
