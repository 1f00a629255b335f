// Analysis: paper-style tables, tidy CSV and notebook export from run files.
import RunStore
