"""Gettext catalogs (`<lang>/LC_MESSAGES/<feature>.po`), read at run time by bot.services.i18n."""
