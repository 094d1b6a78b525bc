"""Services: storage, model, memory, persona, companion, memorial, safety, i18n."""
