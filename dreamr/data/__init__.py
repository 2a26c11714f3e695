from dreamr.data.problems import DataError, GSM8KSource, JsonlSource, LoadedProblems, ProblemSource

__all__ = ["DataError", "GSM8KSource", "JsonlSource", "LoadedProblems", "ProblemSource"]
