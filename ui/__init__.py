"""The web side: the FastAPI app with the Gradio studio, the share pages and the REST API, the
result store, where generation runs (local, Modal, hybrid), and the `atelier` command.

Never imports torch or a model library: the web container's image has none. Each area is a
package whose __init__ names what others may use; README.md's Layout section draws the floors.
"""
