"""The capture side: polling, stamping, change detection and packing."""
