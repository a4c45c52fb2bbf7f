"""MIME types the editor's widgets exchange by drag and drop and the clipboard."""

LAYER_MIME = "application/x-layer-studio-layer"  # payload: a layer type name, UTF-8 (palette → canvas)
FRAGMENT_MIME = (
    "application/x-layer-studio-fragment"  # payload: Document.copy_fragment JSON
)
LIBRARY_MIME = "application/x-layer-studio-library-block"  # payload: a library block's key (palette → canvas)
