-- The plans the product ships with. Operators change limits or add plans with SQL (docs/accounts-and-networks.md).
INSERT INTO `plans` (`id`, `max_networks`, `max_members`) VALUES ('free', 1, 5), ('pro', 100, 10000);
