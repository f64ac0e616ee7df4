"""Staff reports: per send, across issues, list growth, per subscriber; charts by Chart.js
(served from static/vendor, no CDN)."""
