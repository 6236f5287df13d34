"""Tables, plots and progress output shared by the scripts."""
