# Placeholder: the Astro runtime image for this project arrives with the Docker-stack issue.
# It is deliberately not buildable yet, so nothing pretends to work.
