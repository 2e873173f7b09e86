# Application logging through mod_wsgi.LogHandler.
import logging

import mod_wsgi

logger = logging.getLogger("shop")
logger.setLevel(logging.DEBUG)
logger.addHandler(mod_wsgi.LogHandler())
logger.propagate = False

logger.warning("loaded outside any request")


def application(environ, start_response):
    logger.debug("a debug line")
    logger.info("an info line")
    logger.warning("a warning line")
    logger.error("an error line")
    logger.critical("a critical line")
    try:
        1 / 0
    except ZeroDivisionError:
        logger.exception("it failed")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"logged"]
