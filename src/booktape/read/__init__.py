"""Reading tapes back: Arrow/pandas, CSV export."""
