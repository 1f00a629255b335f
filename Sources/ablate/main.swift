print("ablate")
