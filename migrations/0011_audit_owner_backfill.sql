-- Custom migration: each audit entry gets its owner, the account of its network, before the next
-- migration rebuilds audit_log without its foreign key to networks (so a deleted network's trail
-- stays readable by its owner) and copies this column into the new table's NOT NULL account_id.
-- Every entry still has its network: deleting a network deleted its entries until now.
ALTER TABLE `audit_log` ADD `account_id` integer;--> statement-breakpoint
UPDATE `audit_log` SET `account_id` = (SELECT `account_id` FROM `networks` WHERE `networks`.`id` = `audit_log`.`network_id`);
