// Training: data sources, the loop, optimiser, schedules, evaluation, checkpoint and resume.
import Models
