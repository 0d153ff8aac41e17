"""The CloudFormation stack (bucket + execution role) the CLI deploys, inspects and destroys."""
