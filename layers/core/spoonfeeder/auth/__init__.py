"""Identity: Cognito logins and verification of its tokens."""
