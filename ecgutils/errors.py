"""Exceptions raised for bad input: one clear error per problem, with what to do about it."""


class ECGDataError(Exception):
    """Base class for every data problem the package reports."""


class UnknownNameError(ECGDataError, ValueError):
    """An unknown dataset, record, profile or parameter name."""


class DataUnavailableError(ECGDataError):
    """The data is not on disk and cannot be fetched (offline, no local mirror)."""


class ChecksumError(ECGDataError):
    """A file's SHA-256 differs from the official checksum list."""


class RecordFormatError(ECGDataError):
    """A record file is missing, truncated, or disagrees with the dataset registry."""


class SignalQualityError(ECGDataError, ValueError):
    """A lead holds NaN samples or is flat."""
