"""Operating a deployed recorder: `python -m ops.smoke` checks a deployment end to end, `python -m ops.recordings`
finds, describes and downloads what it recorded. Both read the bucket with the google-cloud-storage client."""
