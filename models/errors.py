"""Errors whose message is meant for the person who sent the request. No heavy imports."""


class RequestError(ValueError):
    """A request that can't be run, with a message meant for the person who sent it."""
