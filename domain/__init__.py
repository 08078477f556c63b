"""Pure models and the error tree, shared by everything. Imports nothing of ours."""
