-- Each token-gated network's one join token becomes its first join link: the default link, which
-- the network's `join` instructions show and token rotation replaces. It keeps working unchanged
-- (no expiry, no use limit), so every join command and join URL handed out before still joins.
INSERT INTO `join_links` (`network_id`, `token`, `label`, `is_default`, `created_at`)
SELECT `id`, `join_token`, 'default', 1, `created_at` FROM `networks`
WHERE `join_rule` = 'token' AND `join_token` IS NOT NULL;
