"""The paper's figures and claims as resumable steps, and the report (``reproduce``)."""
