"""Pages to fields: rasterise, preprocess, OCR, lay out, extract, validate."""
