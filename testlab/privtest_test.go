package testlab_test

import (
	"testing"

	"github.com/pktlab/pktlab/internal/privtest"
)

func privtestRequire(t *testing.T) { privtest.Require(t) }
