"""From intent to devices: where the enforcement points are (`topology`), which device enforces
which traffic (`placement`), and the compiled intent of each device that backends read (`intent`).
"""
