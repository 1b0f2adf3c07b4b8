use lightgbm3 as _;
use xgb as _;
