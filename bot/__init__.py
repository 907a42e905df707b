"""Flask side of Laku: Twilio webhooks, admin API, CLI. Thin: parse, call `core`, render."""
