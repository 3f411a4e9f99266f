"""The HTTP(S) side of the server: the mutual-TLS delegation interface (`delegation`), the TLS
contexts both ways (`tls`), the peers recognised by their certificates (`peers`, configured by
`peer_config`), the HTTPS peer client (`client`) and the admin API (`admin`)."""
