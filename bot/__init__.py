"""watchbot: monitoring bot and alert service for Syria accountability news."""
