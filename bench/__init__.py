"""`make bench`: concurrent simulated Vonage calls at real-time pace against one recorder worker."""
