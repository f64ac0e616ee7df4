"""Staff: accounts, roles, login, and the role check every staff route goes through."""
